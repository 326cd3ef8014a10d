"""Fetch the full MNIST (60,000 training and 10,000 test images) into datasets/mnist/.

usage: python datasets/download.py                        # from the usual public mirrors
       python datasets/download.py --from ~/Downloads/mnist  # from a folder that holds the files

Every file is checked against the well-known md5 of its uncompressed content before it is
written, and written atomically, so an interrupted download never leaves a half file behind.
"""
import argparse
import gzip
import hashlib
import os
import sys
import urllib.error
import urllib.request
import zlib

FILES = {  # md5 of the uncompressed content
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}
MIRRORS = [
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mnist")


class DownloadError(Exception):
    pass


def verify(name, blob):
    """Raise DownloadError unless `blob` (gzipped or not) holds the expected content of `name`."""
    try:
        content = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
    except (OSError, EOFError, zlib.error) as e:
        raise DownloadError(f"{name}: corrupt gzip stream ({e})") from None
    found = hashlib.md5(content, usedforsecurity=False).hexdigest()
    if found != FILES[name]:
        raise DownloadError(f"{name}: checksum mismatch (md5 of the content {found}, expected {FILES[name]})")
    return blob if blob[:2] == b"\x1f\x8b" else gzip.compress(blob, mtime=0)


def write_atomic(path, blob):
    tmp = f"{path}.part-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def fetch(name, mirrors, timeout):
    """Try each mirror in turn; return the first copy that verifies."""
    errors = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return verify(name, response.read())
        except urllib.error.HTTPError as e:
            errors.append(f"{url}: HTTP {e.code} {e.reason}")
        except (urllib.error.URLError, OSError, DownloadError) as e:
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
    raise DownloadError(f"could not download {name} from any mirror (are you offline?)\n  " + "\n  ".join(errors))


def read_local(name, folder):
    """Take `name` (or its uncompressed twin) from a local folder."""
    for candidate in (name, name[:-3]):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                return verify(name, f.read())
    raise DownloadError(f"{os.path.join(folder, name)}: no such file")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", metavar="DIR", help="import the four files from this folder instead")
    parser.add_argument("--mirror", action="append", metavar="URL",
                        help="download from this base URL instead of the usual mirrors (repeatable)")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help="where the files go (default: datasets/mnist)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a mirror (default: 30)")
    args = parser.parse_args(argv)
    try:
        os.makedirs(args.out, exist_ok=True)
        for name in FILES:
            path = os.path.join(args.out, name)
            if os.path.isfile(path):
                try:
                    with open(path, "rb") as f:
                        verify(name, f.read())
                    print(f"{path}: already there and verified")
                    continue
                except DownloadError:
                    pass  # a damaged copy: fetch it again
            blob = read_local(name, args.source) if args.source else fetch(name, args.mirror or MIRRORS, args.timeout)
            write_atomic(path, blob)
            print(f"{path}: written and verified")
    except (DownloadError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
