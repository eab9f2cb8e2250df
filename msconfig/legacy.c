/* legacy: placeholder until the legacy text forms land. */
#include <stdio.h>

#include "session.h"

int mc_verb_edit(struct mc_session *s, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(s->err, "msconfig: edit is not available yet\n");
	return 1;
}
