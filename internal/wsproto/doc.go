// Package wsproto is the one home of RFC 6455's rules that more than one
// part of wsbench needs: which close codes an endpoint may send and what
// they are called. The dialer, the reference server, inspect's decoder and
// the scenario validator all ask it, so they cannot disagree.
//
// It is a leaf: it imports nothing from wsbench and allocates nothing.
package wsproto
