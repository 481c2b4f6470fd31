"""Sign goat's PSBTs with embit, a wallet library nobody here wrote.

Usage: embit_sign.py WIF IN.psbt OUT.psbt [IN.psbt OUT.psbt ...]
The wallet is the descriptor tr(WIF): BIP 86 key path, the holder's
address. Each PSBT must get at least one signature from it (exit 1 if not).
"""
import sys

from embit.descriptor import Descriptor
from embit.psbt import PSBT


def main():
    wif = sys.argv[1]
    pairs = sys.argv[2:]
    if not pairs or len(pairs) % 2:
        sys.exit("usage: embit_sign.py WIF IN OUT [IN OUT ...]")
    desc = Descriptor.from_string("tr(%s)" % wif)
    for src, dst in zip(pairs[::2], pairs[1::2]):
        with open(src, "rb") as f:
            psbt = PSBT.parse(f.read())
        n = psbt.sign_with(desc)
        if n == 0:
            sys.exit("embit: %s has no input of tr(KEY) to sign" % src)
        with open(dst, "wb") as f:
            f.write(psbt.serialize())
        print("%s: %d signature(s)" % (dst, n))


main()
