/*
 * famclient_file.h - the familiar-clients table (famclient.h) on disk.
 *
 * load: add the entries of the file at path; a missing file is an empty
 * table (0, *n_r 0). -1 with *error_r (static, for a log line) when the
 * file cannot be read or is malformed: then nothing was added.
 * save: write the table atomically (a temporary file fsynced, renamed over
 * path, the directory fsynced); -1 with *error_r when any step failed
 * (the old file, if any, is still whole).
 */
#ifndef DIRMX_FAMCLIENT_FILE_H
#define DIRMX_FAMCLIENT_FILE_H

#include <stdint.h>

struct famclient;

int famclient_file_load(struct famclient *fc, const char *path, uint64_t now_s,
                        long *n_r, const char **error_r);
int famclient_file_save(const struct famclient *fc, const char *path,
                        uint64_t now_s, const char **error_r);

#endif
