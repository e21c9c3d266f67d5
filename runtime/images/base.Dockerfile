# Metadata for the imported trixie root filesystem (docker import cannot set it).
ARG ROOTFS
FROM ${ROOTFS}
ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["python3"]
