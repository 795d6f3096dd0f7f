/*
 * replay - a stand-in for libFuzzer's main() in ordinary builds.
 *
 * Runs LLVMFuzzerTestOneInput on every file of the directories (or files)
 * named on the command line, then on a fixed number of deterministic
 * mutations of each (bit flips, truncations, byte insertions and
 * duplications), so the fuzz targets and their corpora are exercised by
 * every CTest run, under the sanitizers when those are on. A crash fails
 * the test; an empty or missing corpus fails it too.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUTATIONS 300
#define REPLAY_MAX_INPUT (1024 * 1024)

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng_next(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static void run_one(const uint8_t *data, size_t size)
{
	/* A private copy, so reads past the end are seen by ASan. */
	uint8_t *copy = malloc(size == 0 ? 1 : size);

	if (copy == NULL)
		abort();
	memcpy(copy, data, size);
	LLVMFuzzerTestOneInput(copy, size);
	free(copy);
}

static void mutate_and_run(const uint8_t *data, size_t size)
{
	uint8_t *m = malloc(size * 2 + 16);

	if (m == NULL)
		abort();
	for (int i = 0; i < MUTATIONS; i++) {
		size_t n = size, pos;

		memcpy(m, data, size);
		switch (rng_next() % 5) {
		case 0: /* flip bits */
			for (int k = 0; k < 4 && n > 0; k++)
				m[rng_next() % n] ^=
				    (uint8_t)(1u << (rng_next() % 8));
			break;
		case 1: /* truncate */
			n = n > 0 ? rng_next() % n : 0;
			break;
		case 2: /* insert a byte, often a special one */
			pos = n > 0 ? rng_next() % (n + 1) : 0;
			memmove(m + pos + 1, m + pos, n - pos);
			m[pos] =
			    (uint8_t) "\0\r\n\\\"@<>:%!.\xff"[rng_next() % 14];
			n++;
			break;
		case 3: /* duplicate a run */
			if (n > 0) {
				size_t a = rng_next() % n;
				size_t len = rng_next() % (n - a) + 1;

				memmove(m + a + len, m + a, n - a);
				n += len;
			}
			break;
		default: /* random byte */
			if (n > 0)
				m[rng_next() % n] = (uint8_t)rng_next();
			break;
		}
		run_one(m, n);
	}
	free(m);
}

static int run_file(const char *path)
{
	static uint8_t data[REPLAY_MAX_INPUT];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	n = fread(data, 1, sizeof(data), f);
	fclose(f);
	run_one(data, n);
	mutate_and_run(data, n);
	return 0;
}

int main(int argc, char **argv)
{
	int files = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *de;

		if (stat(argv[i], &st) < 0) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) < 0)
				return 1;
			files++;
			continue;
		}
		d = opendir(argv[i]);
		if (d == NULL) {
			perror(argv[i]);
			return 1;
		}
		while ((de = readdir(d)) != NULL) {
			char path[4096];

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i],
			         de->d_name);
			if (run_file(path) < 0) {
				closedir(d);
				return 1;
			}
			files++;
		}
		closedir(d);
	}
	if (files == 0) {
		fprintf(stderr, "replay: no corpus files given\n");
		return 1;
	}
	printf("replay: %d corpus files, %d runs each\n", files, MUTATIONS + 1);
	return 0;
}
