BASE_URL="<BASE_URL>"
TOKEN="<ACCESS_TOKEN>"
curl -X POST "$BASE_URL/api/users/me/token/regenerate/" \
-H "Authorization: Bearer $TOKEN"
