#!/usr/bin/env bash
echo "weft demo: coming (see README)"
