import requests

headers = {"Authorization": f"Bearer {access_token}"}

response = requests.get(
"https://cadenza-api-uat.algo724.com/api/v3/auth/user",
headers=headers
)

user = response.json()["data"]
print(f"User ID: {user['id']}")
print(f"Email: {user['email']}")
