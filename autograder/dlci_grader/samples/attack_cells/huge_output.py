for _ in range(200):
    print("x" * 100_000)  # 20 MB of output in 200 lines
print("y" * 60_000_000)  # and 60 MB in one line, which a cap on lines lets through
