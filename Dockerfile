# syntax=docker/dockerfile:1
# One image for the API server and the ingest worker (see docker-compose.yml).
#
#   docker build -t rag-multimodal .
#   docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu -t rag-multimodal:cpu .
#
# The default build installs torch from PyPI (CUDA-enabled on x86_64, large); the CPU index gives a much
# smaller image for machines without a GPU.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    TOKENIZERS_PARALLELISM=false

# ffmpeg: torchcodec decodes video with it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# 1. torch, torchvision and torchcodec first, with the same pins as scripts/setup.sh: the largest layer and
#    the one that changes least.
COPY constraints.txt ./
ARG TORCH_INDEX_URL=""
RUN pip install -c constraints.txt ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} \
        torch==2.14.1 torchvision==0.29.1 torchcodec==0.16.0

# 2. The remaining dependencies, from pyproject.toml alone. Empty packages stand in for the source so that
#    this layer is rebuilt only when the dependencies change. (README.md* copies the readme if present.)
COPY pyproject.toml README.md* ./
RUN mkdir -p rag ingest \
    && touch rag/__init__.py ingest/__init__.py \
    && pip install -c constraints.txt . \
    && pip uninstall -y rag-multimodal \
    && rm -rf rag ingest build ./*.egg-info

# 3. The project itself.
COPY rag ./rag
COPY ingest ./ingest
RUN pip install --no-deps . && rm -rf build ./*.egg-info

# Run as an unprivileged user. /data holds the stored media (and the embedded store when no Qdrant URL is
# set); the Hugging Face cache keeps downloaded models. Both are volumes in docker-compose.yml, and creating
# them here gives fresh named volumes the right owner.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin rag \
    && mkdir -p /data /home/rag/.cache/huggingface \
    && chown -R rag:rag /data /home/rag/.cache
USER rag
ENV RAG_DATA_DIR=/data \
    HF_HOME=/home/rag/.cache/huggingface

EXPOSE 8000

# The HTTP API; it needs RAG_API__KEYS to listen beyond the container's loopback (see docker-compose.yml).
CMD ["rag", "serve", "--host", "0.0.0.0", "--port", "8000"]
