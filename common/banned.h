/* banned.h - functions kiln does not use, after git's banned.h.
 * Included last by every kiln source file through common/common.h. */
#ifndef KILN_BANNED_H
#define KILN_BANNED_H

#define BANNED(func) sorry_##func##_is_banned_in_kiln

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef system
#define system(x) BANNED(system)
#undef popen
#define popen(x, y) BANNED(popen)
#undef gmtime
#define gmtime(x) BANNED(gmtime)
#undef localtime
#define localtime(x) BANNED(localtime)
#undef gets
#define gets(x) BANNED(gets)

#endif
