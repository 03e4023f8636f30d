const BASE_URL = "<BASE_URL>";
const TOKEN = "<ACCESS_TOKEN>";
const response = await fetch(`${BASE_URL}/api/users/me/token/regenerate/`, {
method: "POST",
headers: { Authorization: `Bearer ${TOKEN}` },
});
const { access_token } = await response.json();
console.log("New token:", access_token);
