const BASE_URL = "<BASE_URL>";
const TOKEN = "<ACCESS_TOKEN>";
const response = await fetch(`${BASE_URL}/api/users/me/`, {
headers: { Authorization: `Bearer ${TOKEN}` },
});
console.log(await response.json());
