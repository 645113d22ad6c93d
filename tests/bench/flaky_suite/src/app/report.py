import time


def render() -> str:
    time.sleep(0.4)  # rendering takes 0.4 s
    return "report"
