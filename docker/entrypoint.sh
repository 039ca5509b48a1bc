#!/bin/sh
# Container entrypoint: apply the migrations, then serve the API on 0.0.0.0:8000.
# With arguments it runs that `o2o` subcommand instead, e.g.
#   docker compose -f docker/compose.yml run --rm app create-operator --chain ... \
#       --username ... --password ...
set -eu

if [ "$#" -gt 0 ]; then
    exec o2o "$@"
fi

o2o migrate
# exec: uvicorn becomes PID 1 and gets the container's SIGTERM for a clean shutdown.
exec o2o serve --host 0.0.0.0 --port 8000
