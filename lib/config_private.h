/*
 * config_private.h - shared between the config module's files only.
 *
 * config-value.c converts and stores single values; config.c parses the
 * lines and sections around them.
 */
#ifndef DIRMX_CONFIG_PRIVATE_H
#define DIRMX_CONFIG_PRIVATE_H

#include "config.h"

/*
 * Convert value (NUL-terminated, already unquoted) by s->type and store
 * it at base + s->offset; a quoted list value is one item, an unquoted one
 * is split on commas. Returns NULL, or an allocated message the caller
 * frees; on error the field keeps its previous value (a list keeps the
 * items before the bad one).
 */
char *config_value_set(const struct config_setting *s, void *base,
                       const char *value, bool quoted);
void config_value_list_clear(struct config_list *l);
/* Free the strings, lists and hosts of one section instance at base. */
void config_value_free(const struct config_setting *settings, void *base);

#endif
