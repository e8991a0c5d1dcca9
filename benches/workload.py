"""The workload of dockdap's round-trip benchmark (`cargo bench --bench dockdap`).

A loop calls a 19-deep recursion whose innermost frame holds 100 locals of
mixed types (`n` and 99 more) and the breakpoint (the line with the
breakpoint marker comment), so each stop gives a stack of over 20 frames and
a `variables` answer of 100 entries. The benchmark runs it under
`python3 -m debugpy --listen ... --wait-for-client`, on this machine or in a
container; it never ends by itself (the benchmark kills it) and prints
nothing.

With `--steps` (the step cycle), the innermost frame loops forever after the
breakpoint, so `next` stops again and again in the frame with the 100 locals.
"""
import sys


def work(n, steps=False):
    v000 = 0 * n
    v001 = 'value 1 ' * 3
    v002 = [n, 2, 2 + 1, 'x' * 2]
    v003 = {'key': 3, 'n': n, 'name': 'v3'}
    v004 = 4 / 7.0
    v005 = 5 * n
    v006 = 'value 6 ' * 3
    v007 = [n, 7, 7 + 1, 'x' * 7]
    v008 = {'key': 8, 'n': n, 'name': 'v8'}
    v009 = 9 / 7.0
    v010 = 10 * n
    v011 = 'value 11 ' * 3
    v012 = [n, 12, 12 + 1, 'x' * 12]
    v013 = {'key': 13, 'n': n, 'name': 'v13'}
    v014 = 14 / 7.0
    v015 = 15 * n
    v016 = 'value 16 ' * 3
    v017 = [n, 17, 17 + 1, 'x' * 17]
    v018 = {'key': 18, 'n': n, 'name': 'v18'}
    v019 = 19 / 7.0
    v020 = 20 * n
    v021 = 'value 21 ' * 3
    v022 = [n, 22, 22 + 1, 'x' * 22]
    v023 = {'key': 23, 'n': n, 'name': 'v23'}
    v024 = 24 / 7.0
    v025 = 25 * n
    v026 = 'value 26 ' * 3
    v027 = [n, 27, 27 + 1, 'x' * 27]
    v028 = {'key': 28, 'n': n, 'name': 'v28'}
    v029 = 29 / 7.0
    v030 = 30 * n
    v031 = 'value 31 ' * 3
    v032 = [n, 32, 32 + 1, 'x' * 32]
    v033 = {'key': 33, 'n': n, 'name': 'v33'}
    v034 = 34 / 7.0
    v035 = 35 * n
    v036 = 'value 36 ' * 3
    v037 = [n, 37, 37 + 1, 'x' * 37]
    v038 = {'key': 38, 'n': n, 'name': 'v38'}
    v039 = 39 / 7.0
    v040 = 40 * n
    v041 = 'value 41 ' * 3
    v042 = [n, 42, 42 + 1, 'x' * 42]
    v043 = {'key': 43, 'n': n, 'name': 'v43'}
    v044 = 44 / 7.0
    v045 = 45 * n
    v046 = 'value 46 ' * 3
    v047 = [n, 47, 47 + 1, 'x' * 47]
    v048 = {'key': 48, 'n': n, 'name': 'v48'}
    v049 = 49 / 7.0
    v050 = 50 * n
    v051 = 'value 51 ' * 3
    v052 = [n, 52, 52 + 1, 'x' * 52]
    v053 = {'key': 53, 'n': n, 'name': 'v53'}
    v054 = 54 / 7.0
    v055 = 55 * n
    v056 = 'value 56 ' * 3
    v057 = [n, 57, 57 + 1, 'x' * 57]
    v058 = {'key': 58, 'n': n, 'name': 'v58'}
    v059 = 59 / 7.0
    v060 = 60 * n
    v061 = 'value 61 ' * 3
    v062 = [n, 62, 62 + 1, 'x' * 62]
    v063 = {'key': 63, 'n': n, 'name': 'v63'}
    v064 = 64 / 7.0
    v065 = 65 * n
    v066 = 'value 66 ' * 3
    v067 = [n, 67, 67 + 1, 'x' * 67]
    v068 = {'key': 68, 'n': n, 'name': 'v68'}
    v069 = 69 / 7.0
    v070 = 70 * n
    v071 = 'value 71 ' * 3
    v072 = [n, 72, 72 + 1, 'x' * 72]
    v073 = {'key': 73, 'n': n, 'name': 'v73'}
    v074 = 74 / 7.0
    v075 = 75 * n
    v076 = 'value 76 ' * 3
    v077 = [n, 77, 77 + 1, 'x' * 77]
    v078 = {'key': 78, 'n': n, 'name': 'v78'}
    v079 = 79 / 7.0
    v080 = 80 * n
    v081 = 'value 81 ' * 3
    v082 = [n, 82, 82 + 1, 'x' * 82]
    v083 = {'key': 83, 'n': n, 'name': 'v83'}
    v084 = 84 / 7.0
    v085 = 85 * n
    v086 = 'value 86 ' * 3
    v087 = [n, 87, 87 + 1, 'x' * 87]
    v088 = {'key': 88, 'n': n, 'name': 'v88'}
    v089 = 89 / 7.0
    v090 = 90 * n
    v091 = 'value 91 ' * 3
    v092 = [n, 92, 92 + 1, 'x' * 92]
    v093 = {'key': 93, 'n': n, 'name': 'v93'}
    v094 = 94 / 7.0
    v095 = 95 * n
    v096 = 'value 96 ' * 3
    v097 = [n, 97, 97 + 1, 'x' * 97]
    v098 = {'key': 98, 'n': n, 'name': 'v98'}
    total = n  # bench: breakpoint
    total += 1  # bench: next
    while steps:
        total += 1  # bench: step
        total -= 1
    return total


def recurse(depth, n, steps=False):
    if depth == 0:
        return work(n, steps)
    return recurse(depth - 1, n, steps)


def main():
    n = 0
    steps = "--steps" in sys.argv
    while True:
        n = recurse(19, n, steps)


if __name__ == "__main__":
    main()
