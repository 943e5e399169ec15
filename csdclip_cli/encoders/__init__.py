"""Encoders: one protocol, many families, one registration hook."""

from csdclip_cli.encoders.base import Encoder
from csdclip_cli.encoders.registry import Family, LoadOptions, families, load_encoder, plugin_errors, register
from csdclip_cli.encoders.spec import ModelSpec

__all__ = ["Encoder", "Family", "LoadOptions", "ModelSpec", "families", "load_encoder", "plugin_errors", "register"]
