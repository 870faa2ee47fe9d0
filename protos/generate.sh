#!/usr/bin/env bash
# Regenerates the committed Python code from the .proto sources.
# Usage: protos/generate.sh [OUTDIR]   (default: protos/, i.e. in place)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
"${PYTHON:-python3}" -m grpc_tools.protoc -I "$here" \
  --python_out="$out" --pyi_out="$out" \
  --grpc_python_out="$out" --mypy_grpc_out="$out" \
  "$here"/fleetpulse/v1/*.proto
