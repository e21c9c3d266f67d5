# Metadata for an imported Debian root filesystem (docker import cannot set it).
ARG ROOTFS
FROM ${ROOTFS}
ARG CMD=bash
ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# hadolint ignore=DL3025
CMD ${CMD}
