/*
 * version: the product's name and version as servers announce them
 * (banners, IMPLEMENTATION capabilities, readiness log lines).  MS_VERSION
 * comes from the build (meson.build's project version).
 */
#ifndef MS_VERSION_H
#define MS_VERSION_H

#define MS_PRODUCT_NAME "Messaging Server"
/* The same without blanks, for protocol tokens. */
#define MS_PRODUCT_TOKEN "Messaging-Server"

#endif
