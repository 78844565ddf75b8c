#!/usr/bin/env bash
# Init container step: put the plugin and the network config on the host.
# /host/opt/cni/bin and /host/etc/cni/net.d are the host's CNI directories, mounted by the DaemonSet.
set -euo pipefail
bin_dir=${CNI_BIN_DIR:-/host/opt/cni/bin}
conf_dir=${CNI_CONF_DIR:-/host/etc/cni/net.d}
conflist=${WEFT_CONFLIST:-/etc/weft/10-weft.conflist}
plugin=${WEFT_CNI_PLUGIN:-/opt/weft/bin/weft-cni}

mkdir -p "$bin_dir" "$conf_dir"
# Copy then rename, so a runtime never execs a half-written plugin.
cp "$plugin" "$bin_dir/.weft.tmp"
chmod 0755 "$bin_dir/.weft.tmp"
mv -f "$bin_dir/.weft.tmp" "$bin_dir/weft"
cp "$conflist" "$conf_dir/.10-weft.conflist.tmp"
mv -f "$conf_dir/.10-weft.conflist.tmp" "$conf_dir/10-weft.conflist"
echo "weft: installed $bin_dir/weft and $conf_dir/10-weft.conflist"
