def _big_file():
    with open("big.bin", "wb") as f:
        chunk = b"0" * 2**26
        for _ in range(48):  # 3 GiB
            f.write(chunk)


_attempt("write a 3 GiB file", _big_file)
