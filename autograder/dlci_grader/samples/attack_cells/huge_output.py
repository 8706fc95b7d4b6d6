for _ in range(200):
    print("x" * 100_000)  # 20 MB of output
