// Package hotpath holds what keeps the token and introspection endpoints
// lean without changing what they answer: fosite's token endpoint
// handlers asked only about the grants they serve, and a bounded cache of
// access tokens whose signature was verified.
package hotpath
