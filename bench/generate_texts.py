#!/usr/bin/env python3
"""Writes a labelled text corpus of any size for `text-classifier`: a TSV of label and text,
like the bundled SMS spam file, to measure training time and memory on data far larger than
the bundled sets (generated data is never committed).

    python bench/generate_texts.py --rows 1000000 --classes 50 --out /var/tmp/texts-1m.tsv
    text-classifier train --data /var/tmp/texts-1m.tsv

Texts are drawn word by word from a vocabulary of made-up words: mostly from one Zipf
distribution shared by every class (the common words of a language), partly from a few
hundred topic words of the text's own class, so the classes are learnable but overlap. Lengths
follow a log-normal distribution around 30 words (5 to 300), like short reviews or news
snippets. The same --seed gives the same file. Needs numpy.
"""

import argparse
import sys

import numpy as np

LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))


def vocabulary(size, rng):
    """`size` distinct made-up words of 3 to 10 letters, in random order (the order is their
    Zipf rank)."""
    words = set()
    while len(words) < size:
        for length in rng.integers(3, 11, size=size):
            words.add("".join(rng.choice(LETTERS, size=length)))
    words = sorted(words)[:size]
    rng.shuffle(words)
    return words


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--classes", type=int, default=50)
    parser.add_argument("--vocabulary", type=int, default=50_000, help="distinct words")
    parser.add_argument("--topic-words", type=int, default=300, help="words typical of each class")
    parser.add_argument("--topic-share", type=float, default=0.15,
                        help="share of a text's words drawn from its class's topic words")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", required=True, help="the TSV file to write")
    args = parser.parse_args()
    if args.rows < 1 or args.classes < 2 or not 0.0 <= args.topic_share <= 1.0:
        sys.exit("--rows must be at least 1, --classes at least 2, --topic-share in [0, 1]")

    rng = np.random.default_rng(args.seed)
    words = np.array(vocabulary(args.vocabulary, rng))
    zipf = 1.0 / np.arange(1, len(words) + 1) ** 1.1
    zipf /= zipf.sum()
    topics = [rng.choice(len(words), size=args.topic_words, replace=False)
              for _ in range(args.classes)]
    labels = [f"class{c:02d}" for c in range(args.classes)]

    chunk = 10_000
    with open(args.out, "w", encoding="utf-8") as out:
        for start in range(0, args.rows, chunk):
            n = min(chunk, args.rows - start)
            classes = rng.integers(0, args.classes, size=n)
            lengths = np.clip(rng.lognormal(np.log(30), 0.6, size=n).astype(int), 5, 300)
            common = rng.choice(len(words), size=lengths.sum(), p=zipf)
            from_topic = rng.random(lengths.sum()) < args.topic_share
            offsets = np.concatenate([[0], np.cumsum(lengths)])
            lines = []
            for i in range(n):
                ids = common[offsets[i]:offsets[i + 1]].copy()
                topic = from_topic[offsets[i]:offsets[i + 1]]
                ids[topic] = rng.choice(topics[classes[i]], size=topic.sum())
                lines.append(f"{labels[classes[i]]}\t{' '.join(words[ids])}\n")
            out.writelines(lines)
    print(f"wrote {args.rows} texts in {args.classes} classes to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
