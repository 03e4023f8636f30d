import requests
BASE_URL = "<BASE_URL>"
TOKEN = "<ACCESS_TOKEN>"
response = requests.post(
f"{BASE_URL}/api/users/me/token/regenerate/",
headers={"Authorization": f"Bearer {TOKEN}"}
)
new_token = response.json()["access_token"]
print(f"New token: {new_token}")
