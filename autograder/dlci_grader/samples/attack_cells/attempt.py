"""Prepended to every attack cell that calls ``_attempt``: one ``ATTACK <what>: <outcome>`` line
per try."""

def _attempt(what, action):
    try:
        result = action()
    except BaseException as error:  # noqa: BLE001
        print(f"ATTACK {what}: refused ({type(error).__name__}: {str(error)[:80]})")
    else:
        print(f"ATTACK {what}: SUCCEEDED ({str(result)[:80]})")
