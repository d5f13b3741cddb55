"""Write tests/core/aisfx_reference.npz: the original PyTorch aisfx network's embeddings of a few
blocks, for tests/core/test_aisfx_port.py. Not run by the tests (PyTorch is not a dependency).

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy
    .venv/bin/python tests/core/make_aisfx_reference.py /tmp/torchenv/bin/python

The project's venv computes the input blocks (our front end on the golden recording, plus one
block of uniform noise), the torch venv runs the package's own EmbeddingNet('max', 3, 1, 64) with
the package's checkpoint loaded by torch.load, and the blocks and outputs are stored.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "aisfx_reference.npz"

TORCH_SIDE = """
import sys, importlib.util
import numpy as np, torch
package, blocks_file, out_file = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("cnn2d", package + "/models/cnn2d.py")
cnn2d = importlib.util.module_from_spec(spec); spec.loader.exec_module(cnn2d)
weights, ds_dict = torch.load(package + "/models/checkpoint.pth", map_location="cpu",
                              weights_only=False)
net = cnn2d.EmbeddingNet("max", 3, 1, 64)
net.load_state_dict({k.removeprefix("embedding_net."): v for k, v in weights.items()
                     if k.startswith("embedding_net.")})
net.eval()
blocks = np.load(blocks_file)
with torch.no_grad():
    out = net(torch.from_numpy(blocks)).numpy()
np.save(out_file, out)
print(torch.__version__, out.shape)
"""


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from core.audio import decode
    from core.models.aisfx import checkpoint_path, chosen_blocks

    torch_python = sys.argv[1]
    audio = decode(ROOT / "tests/golden/warm_ink_excerpt.mp3", 44_100)
    music = chosen_blocks(audio, 2)
    noise = np.random.default_rng(7).uniform(0, 1, (1, 100, 96)).astype(np.float32)
    blocks = np.concatenate([music, noise]).astype(np.float32)
    package = str(checkpoint_path().parents[1])
    with tempfile.TemporaryDirectory() as folder:
        blocks_file, out_file = f"{folder}/blocks.npy", f"{folder}/out.npy"
        np.save(blocks_file, blocks)
        subprocess.run([torch_python, "-c", TORCH_SIDE, package, blocks_file, out_file], check=True)
        embeddings = np.load(out_file)
    np.savez_compressed(OUT, blocks=blocks[:2], embeddings=embeddings.astype(np.float32))
    print(f"wrote {OUT}: blocks {blocks.shape}, embeddings {embeddings.shape}")


if __name__ == "__main__":
    main()
