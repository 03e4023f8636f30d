BASE_URL="<BASE_URL>"
TOKEN="<ACCESS_TOKEN>"
curl "$BASE_URL/api/users/me/token/" \
-H "Authorization: Bearer $TOKEN"
