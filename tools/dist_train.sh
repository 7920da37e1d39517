#!/usr/bin/env bash
# Distributed training through torchrun (MMEngine's pytorch launcher).
#   tools/dist_train.sh CONFIG GPUS [train.py args...]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT as in MMDetection's script.
# On a machine without a GPU, GPUS is the number of CPU processes (gloo backend).
set -euo pipefail
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON=${PYTHON:-python}
[[ -x "$DIR/../.venv/bin/python" && -z "${VIRTUAL_ENV:-}" ]] && PYTHON="$DIR/../.venv/bin/python"
PYTHONPATH="$DIR/..:${PYTHONPATH:-}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes=$NNODES --node_rank=$NODE_RANK --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS --master_port=$PORT \
    "$DIR/train.py" "$CONFIG" --launcher pytorch "${@:3}"
