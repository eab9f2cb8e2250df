/*
 * hashdir: print the hash directory of a user's mailboxes in a partition.
 *
 *   hashdir [-a] [-i] userid[@domain]
 *
 * Prints the two-level directory "H1/H2/" that holds the user's directory
 * =<userid> under <partition>/=user/ (store_hashdir.h gives the function).
 * It does not check that the user exists; the ID is case-sensitive.
 *   -a   append the user ID: "64/b1/user1"
 *   -i   read one user ID per line from standard input, print one line each
 *
 * Exit status: 0; 64 usage error (no user ID, unknown flag).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ms/buf.h>

#include "store_hashdir.h"

#define EX_USAGE 64

static void usage(FILE *f)
{
	fprintf(f, "usage: hashdir [-a] [-i] userid[@domain]\n"
		   "Print the hash directory (H1/H2/) of a user's mailboxes inside a partition.\n"
		   "  -a   append the user ID to the output\n"
		   "  -i   interactive: read user IDs from standard input, one per line\n"
		   "  -h   this help\n"
		   "The user ID is case-sensitive; a user of a hosted domain is uid@domain.\n");
}

static void print_one(const char *id, int append)
{
	struct ms_buf out;

	ms_buf_init(&out);
	store_hashdir(id, &out);
	if (append)
		ms_buf_puts(&out, id);
	printf("%s\n", out.data);
	ms_buf_deinit(&out);
}

int main(int argc, char **argv)
{
	int c, append = 0, interactive = 0;

	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	while ((c = getopt(argc, argv, "+aih")) != -1) {
		switch (c) {
		case 'a':
			append = 1;
			break;
		case 'i':
			interactive = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (interactive) {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;

		if (optind != argc) {
			fprintf(stderr, "hashdir: -i takes no user ID on the command line\n");
			return EX_USAGE;
		}
		while ((n = getline(&line, &cap, stdin)) > 0) {
			while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
				line[--n] = '\0';
			if (n == 0)
				continue;
			print_one(line, append);
			fflush(stdout);
		}
		free(line);
		return 0;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "hashdir: %s\n", optind == argc ? "no user ID given" : "one user ID only");
		usage(stderr);
		return EX_USAGE;
	}
	print_one(argv[optind], append);
	return 0;
}
