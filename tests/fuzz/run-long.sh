#!/usr/bin/env bash
# Long fuzzing session: every target for HOURS (default 2) each.
exec "$(dirname "$0")/run.sh" $(( ${1:-2} * 3600 ))
