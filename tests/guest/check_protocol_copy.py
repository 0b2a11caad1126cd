"""Checks the Python copy of the guest protocol (guest_vm.py) against the C++ one, as printed by
the test program guest_protocol_dump: the constants, every message type, and sample frames that
guest_vm's FrameReader must read and its FrameWriter must write byte for byte. Exits 1 naming each
difference. A ctest labelled unit runs it:

    python3 tests/guest/check_protocol_copy.py build/tests/unit/guest/guest_protocol_dump
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import guest_vm  # noqa: E402


def differences(cxx: dict) -> list[str]:
    found = []

    def expect(what: str, python_value, cxx_value) -> None:
        if python_value != cxx_value:
            found.append(f"{what}: guest_vm.py has {python_value!r}, the C++ side {cxx_value!r}")

    expect("VERSION", guest_vm.VERSION, cxx["version"])
    expect("MAGIC", guest_vm.MAGIC, cxx["magic"].encode())
    expect("HEADER size", guest_vm.HEADER.size, cxx["header_size"])
    expect("MAX_JSON", guest_vm.MAX_JSON, cxx["max_json_length"])
    expect("MAX_PAYLOAD", guest_vm.MAX_PAYLOAD, cxx["max_payload_length"])
    expect("PORT_NAME", guest_vm.PORT_NAME, cxx["port_name"])
    expect("TYPES", guest_vm.TYPES, cxx["types"])

    stream = b"".join(bytes.fromhex(f["bytes_hex"]) for f in cxx["frames"])
    reader = guest_vm.FrameReader()
    writer = guest_vm.FrameWriter()
    try:
        reader.feed(stream)
        for i, sample in enumerate(cxx["frames"]):
            frame = reader.next()
            payload = bytes.fromhex(sample["payload_hex"])
            got = None if frame is None else (frame.type, frame.body, frame.payload)
            expect(f"frame {i + 1} as FrameReader reads it", got,
                   (sample["type"], sample["body"], payload))
            encoded = writer.encode(sample["type"], sample["body"], payload)
            expect(f"frame {i + 1} as FrameWriter writes it", encoded.hex(), sample["bytes_hex"])
    except (guest_vm.ProtocolError, KeyError, ValueError) as e:
        found.append(f"guest_vm.py cannot handle the C++ side's frames: {e!r}")
    return found


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True, timeout=60)
    found = differences(json.loads(out.stdout))
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print("tests/guest/guest_vm.py no longer mirrors common/guest_protocol: update it",
              file=sys.stderr)
        return 1
    print(f"guest_vm.py speaks the C++ side's protocol (version {guest_vm.VERSION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
