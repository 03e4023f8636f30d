import requests
BASE_URL = "<BASE_URL>"
TOKEN = "<ACCESS_TOKEN>"
response = requests.get(
f"{BASE_URL}/api/users/me/",
headers={"Authorization": f"Bearer {TOKEN}"}
)
print(response.json())
