#!/bin/sh
# Container entrypoint. Without arguments (a single container): apply the migrations,
# then serve the API on 0.0.0.0:8000. With arguments it runs that `o2o` subcommand
# instead, e.g. `serve --host 0.0.0.0` for a replica that must not migrate, or
#   docker compose -f docker/compose.yml run --rm migrate create-operator --chain ... \
#       --username ... --password ...
set -eu

if [ "$#" -gt 0 ]; then
    exec o2o "$@"
fi

o2o migrate
# exec: uvicorn becomes PID 1 and gets the container's SIGTERM for a clean shutdown.
exec o2o serve --host 0.0.0.0 --port 8000
