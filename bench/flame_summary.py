"""Summarise a py-spy raw (collapsed) profile: where the samples go, inclusive and self.

py-spy record --pid PID --duration 40 --format raw --output profile.txt --nonblocking
python bench/flame_summary.py profile.txt [--top 25] [--match conversations/]
"""

import argparse
import collections
import re


def frames_of(stack: str) -> list[str]:
    out = []
    for frame in stack.split(";"):
        # "function (path/file.py:line)" -> "file.py:function"
        match = re.match(r"(.+?) \((.+?)(?::\d+)?\)$", frame.strip())
        if match:
            function, path = match.groups()
            parts = path.split("/")
            short = (
                "/".join(parts[-2:])
                if "site-packages" not in path
                else parts[parts.index("site-packages") + 1 if "site-packages" in parts else -1]
                + "/"
                + parts[-1]
            )
            out.append(f"{short}:{function}")
        else:
            out.append(frame.strip())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="", help="only frames whose name contains this")
    args = parser.parse_args()
    inclusive: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    total = 0
    with open(args.profile, errors="replace") as profile:  # py-spy may cut a name mid-character
        for line in profile:
            stack, _, count = line.rstrip().rpartition(" ")
            if not stack or not count.isdigit():
                continue  # a frame name py-spy printed across lines (a class body's docstring)
            n = int(count)
            total += n
            frames = frames_of(stack)
            for frame in set(frames):
                inclusive[frame] += n
            if frames:
                own[frames[-1]] += n
    print(f"{total} samples")
    print(f"{'inclusive':>9}  {'self':>6}  frame")
    shown = 0
    for frame, n in inclusive.most_common():
        if args.match and args.match not in frame:
            continue
        print(f"{100 * n / total:8.1f}%  {100 * own[frame] / total:5.1f}%  {frame}")
        shown += 1
        if shown >= args.top:
            break


if __name__ == "__main__":
    main()
