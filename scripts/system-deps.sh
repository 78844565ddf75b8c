#!/usr/bin/env bash
# Debian packages the build, the network tests and the demo use: gcc for the CNI plugin, the real CNI
# plugins (bridge, host-local), iproute2 for namespaces, iputils-ping; for the podman suite podman
# (CNI backend), runc, a static busybox for its image; iptables for the bridge's masquerading, and
# openssl for the cluster suite's certificates. Installed only as root and only when missing.
set -euo pipefail
missing=()
{ command -v cc >/dev/null 2>&1 && [ -e /usr/include/stdio.h ]; } || missing+=(gcc libc6-dev)
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || missing+=(iptables)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# ldd fails on a static binary: a dynamic busybox (the busybox package) cannot be an image's rootfs.
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then missing+=(busybox-static); fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "weft: not root or no apt-get; skipping ${missing[*]} (network-namespace tests will be skipped)" >&2
  exit 0
fi
echo "weft: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
