# Zipkin for the air-gapped cluster: the exec jar from Maven Central (runtime/install.sh
# zipkin) on bookworm's OpenJDK 17, as the local stack runs it.
ARG BASE=snacktopus/debian:bookworm
FROM ${BASE}
# The base drops /usr/share/man, where the JRE's postinst links java.1: put the folder back.
# hadolint ignore=DL3008
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY zipkin.jar /opt/zipkin/zipkin.jar
USER 10001:10001
EXPOSE 9411
ENTRYPOINT ["java", "-XX:+ExitOnOutOfMemoryError", "-jar", "/opt/zipkin/zipkin.jar"]
