#!/usr/bin/env python3
"""Convert a fovea checkpoint (or any safetensors file) into a PyTorch state_dict.

Needs only the standard library and torch (not the `safetensors` package): the header is parsed
with json and the data wrapped with torch.frombuffer, which is the whole format:

    u64 little-endian header length N | N bytes of JSON | data buffer

    python3 examples/safetensors_to_torch.py run.ckpt model.pt
    python3 -c "import torch; m = MyNet(); m.load_state_dict(torch.load('model.pt'))"

For a fovea checkpoint the "model." tensors become the state_dict (prefix removed); the
optimiser state ("optim.") and the metadata are printed, not converted. --all keeps every tensor
under its full name. Parameter names follow PyTorch's, so a model of the same architecture loads
the result with strict=True.
"""
import argparse
import json
import struct
import sys

import torch

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}


def read_safetensors(path):
    """(tensors in buffer order, metadata) of a safetensors file."""
    if sys.byteorder != "little":
        raise SystemExit("this script assumes a little-endian machine (the format's byte order)")
    with open(path, "rb") as f:
        data = bytearray(f.read())  # writable, so torch.frombuffer does not warn
    if len(data) < 8:
        raise SystemExit(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise SystemExit(f"{path}: header length {n} is larger than the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    buffer = memoryview(data)[8 + n:]
    tensors = {}
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        begin, end = info["data_offsets"]
        dtype, shape = DTYPES[info["dtype"]], info["shape"]
        count = (end - begin) // torch.tensor([], dtype=dtype).element_size()
        if count == 0:
            tensors[name] = torch.empty(shape, dtype=dtype)
        else:
            flat = torch.frombuffer(buffer, dtype=dtype, count=count, offset=begin)
            tensors[name] = flat.reshape(shape).clone()  # own memory, not the file's buffer
    return tensors, metadata


def to_state_dict(tensors, metadata, keep_all=False):
    if keep_all or metadata.get("format") != "fovea-checkpoint":
        return dict(tensors)
    prefix = "model."
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="a .safetensors file or fovea checkpoint")
    parser.add_argument("output", help="where torch.save writes the state_dict")
    parser.add_argument("--all", action="store_true", help="keep every tensor, names unchanged")
    args = parser.parse_args()

    tensors, metadata = read_safetensors(args.input)
    state_dict = to_state_dict(tensors, metadata, args.all)
    torch.save(state_dict, args.output)
    for key, value in sorted(metadata.items()):
        print(f"{key}: {value}")
    print(f"wrote {len(state_dict)} tensors to {args.output}")


if __name__ == "__main__":
    main()
