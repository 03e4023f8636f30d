curl https://cadenza-api-uat.algo724.com/api/v3/auth/user \
-H "Authorization: Bearer eyJhbGciOiJIUzI1NiIs..."
