# The node image with its images preloaded into containerd: restores what the preload
# container (run with containerd as its entrypoint) changed in the image config.
ARG PRELOADED
FROM ${PRELOADED}
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
