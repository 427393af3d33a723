#!/usr/bin/python3
"""split_frames.py - frame selections for training on a pool and testing on frames
no model saw (README, "One model on all frames").

  split_frames.py --frames 100000 --held-out 5000 --seed 1 --pool pool.txt \\
      --held held_out.txt
      writes held_out.txt: HELD_OUT frames drawn at random (numpy's PCG64 from
      SEED, so the draw repeats), and pool.txt: every other frame; both as
      ascending indices, one a line (what cgdml --indices reads).

  split_frames.py --unseen held_out.txt --models a.h5 b.h5 --out unseen.txt
      writes the frames of held_out.txt that none of the models trained on (their
      /cgdml_model/train_indices; an averaged model lists every member's frames):
      `cgdml ensemble` draws from all frames, so some held-out frames may be in
      its members or mean set.

  split_frames.py --frames-of distilled.h5 --out mean_set.txt
      writes the frames a model trained on (a distilled model's mean set), to
      train another model on the same frames (`cgdml train --teacher`).

Uses numpy and h5py (Debian's python3-numpy, python3-h5py).
"""
import argparse
import sys

import h5py
import numpy as np


def write_indices(path, idx):
    with open(path, "w") as f:
        f.write("".join(f"{i}\n" for i in idx))


def split(args):
    if not 0 < args.held_out < args.frames:
        sys.exit(f"split_frames.py: --held-out {args.held_out}: expected 1 to {args.frames - 1}")
    rng = np.random.default_rng(args.seed)
    held = np.sort(rng.choice(args.frames, size=args.held_out, replace=False))
    pool = np.setdiff1d(np.arange(args.frames), held)
    write_indices(args.held, held)
    write_indices(args.pool, pool)
    print(f"{len(held)} held-out frames to {args.held}, {len(pool)} to {args.pool}")


def unseen(args):
    held = np.loadtxt(args.unseen, dtype=np.int64, ndmin=1)
    seen = set()
    for path in args.models:
        with h5py.File(path, "r") as f:
            seen.update(int(i) for i in np.array(f["/cgdml_model/train_indices"]))
    keep = [int(i) for i in held if int(i) not in seen]
    write_indices(args.out, keep)
    print(f"{len(keep)} of {len(held)} held-out frames unseen by the models, to {args.out}")


def frames_of(args):
    with h5py.File(args.frames_of, "r") as f:
        idx = np.array(f["/cgdml_model/train_indices"])
    write_indices(args.out, idx)
    print(f"{len(idx)} training frames of {args.frames_of} to {args.out}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int)
    p.add_argument("--held-out", type=int, default=5000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--pool")
    p.add_argument("--held")
    p.add_argument("--unseen")
    p.add_argument("--models", nargs="+")
    p.add_argument("--frames-of")
    p.add_argument("--out")
    args = p.parse_args()
    if args.frames_of and args.out:
        frames_of(args)
    elif args.unseen and args.models and args.out:
        unseen(args)
    elif args.frames and args.pool and args.held:
        split(args)
    else:
        p.error("give --frames, --pool and --held; --unseen, --models and --out; or "
                "--frames-of and --out")


if __name__ == "__main__":
    main()
