package scenario

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// This file turns goccy/go-yaml's AST into ynode, a plain tree with
// positions, anchors and aliases resolved, merge keys applied and scalars
// typed. The scenario decoder (parse.go) reads ynodes only.

type ykind uint8

const (
	yNull ykind = iota
	yString
	yInt
	yFloat
	yBool
	yMap
	ySeq
)

func (k ykind) String() string {
	return [...]string{"null", "string", "integer", "number", "boolean", "mapping", "list"}[k]
}

type ynode struct {
	kind  ykind
	pos   Pos
	str   string  // string value, or the scalar's source text
	i     int64   // yInt
	u     uint64  // yInt above MaxInt64 (big is set)
	big   bool    // integer does not fit int64
	f     float64 // yFloat
	b     bool    // yBool
	keys  []*ynode
	vals  []*ynode // map values, parallel to keys
	items []*ynode // list items
}

// get returns the value of a key of a mapping.
func (n *ynode) get(key string) *ynode {
	for i, k := range n.keys {
		if k.str == key {
			return n.vals[i]
		}
	}
	return nil
}

// describe names the node's kind and value for "got ..." messages.
func (n *ynode) describe() string {
	switch n.kind {
	case yMap, ySeq, yNull:
		return "a " + n.kind.String()
	}
	s := n.str
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return fmt.Sprintf("%s %q", n.kind, s)
}

// Limits that keep hostile files cheap: alias expansion ("billion
// laughs"), size, and flow nesting (the YAML parser slows down
// quadratically with depth).
const (
	maxYAMLNodes = 200_000
	maxYAMLSize  = 8 << 20
	maxYAMLDepth = 200
)

type yamlConverter struct {
	file    string
	anchors map[string]*ynode
	nodes   int
	errs    ErrorList
}

// parseYAML reads data into a ynode tree. A file with no document yields a
// null node. Several documents are an error.
func parseYAML(file string, data []byte) (*ynode, ErrorList) {
	if len(data) > maxYAMLSize {
		return nil, ErrorList{{Pos: Pos{File: file}, Msg: fmt.Sprintf("file too large (%d bytes, at most %d)", len(data), maxYAMLSize)}}
	}
	if line, col, deep := flowTooDeep(data); deep {
		return nil, ErrorList{{Pos: Pos{File: file, Line: line, Col: col}, Msg: fmt.Sprintf("nesting deeper than %d levels", maxYAMLDepth)}}
	}
	f, err := parseBytes(data)
	if err != nil {
		return nil, ErrorList{yamlSyntaxError(file, err)}
	}
	c := &yamlConverter{file: file, anchors: map[string]*ynode{}}
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return &ynode{kind: yNull, pos: Pos{File: file, Line: 1, Col: 1}}, nil
	}
	if len(docs) > 1 {
		c.errorAt(docs[1].Body, "a scenario file holds one YAML document, found another")
		return nil, c.errs
	}
	root := c.convert(docs[0].Body, 0)
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	return root, nil
}

func yamlSyntaxError(file string, err error) *Error {
	var se *yaml.SyntaxError
	if errors.As(err, &se) && se.Token != nil {
		return &Error{Pos: tokenPos(file, se.Token), Msg: "YAML syntax: " + se.Message}
	}
	msg := err.Error()
	return &Error{Pos: Pos{File: file}, Msg: "YAML syntax: " + strings.TrimSpace(msg)}
}

func tokenPos(file string, t *token.Token) Pos {
	if t == nil || t.Position == nil {
		return Pos{File: file}
	}
	return Pos{File: file, Line: t.Position.Line, Col: t.Position.Column}
}

func (c *yamlConverter) pos(n ast.Node) Pos {
	if n == nil {
		return Pos{File: c.file}
	}
	return tokenPos(c.file, n.GetToken())
}

func (c *yamlConverter) errorAt(n ast.Node, format string, args ...any) {
	c.errs = append(c.errs, &Error{Pos: c.pos(n), Msg: fmt.Sprintf(format, args...)})
}

func (c *yamlConverter) convert(n ast.Node, depth int) *ynode {
	c.nodes++
	if c.nodes > maxYAMLNodes || depth > maxYAMLDepth {
		if c.nodes == maxYAMLNodes+1 || depth == maxYAMLDepth+1 {
			c.errorAt(n, "document too large or too deeply nested")
		}
		return &ynode{kind: yNull, pos: c.pos(n)}
	}
	pos := c.pos(n)
	switch x := n.(type) {
	case nil:
		return &ynode{kind: yNull, pos: pos}
	case *ast.NullNode:
		return &ynode{kind: yNull, pos: pos, str: "null"}
	case *ast.StringNode:
		return &ynode{kind: yString, pos: pos, str: x.Value}
	case *ast.LiteralNode:
		s := ""
		if x.Value != nil {
			s = x.Value.Value
		}
		return &ynode{kind: yString, pos: pos, str: s}
	case *ast.IntegerNode:
		y := &ynode{kind: yInt, pos: pos, str: x.GetToken().Value}
		switch v := x.Value.(type) {
		case int64:
			y.i = v
		case uint64:
			if v > math.MaxInt64 {
				y.big, y.u = true, v
			} else {
				y.i = int64(v)
			}
		default:
			c.errorAt(n, "integer %s out of range", y.str)
		}
		return y
	case *ast.FloatNode:
		return &ynode{kind: yFloat, pos: pos, str: x.GetToken().Value, f: x.Value}
	case *ast.InfinityNode:
		return &ynode{kind: yFloat, pos: pos, str: x.GetToken().Value, f: x.Value}
	case *ast.NanNode:
		return &ynode{kind: yFloat, pos: pos, str: x.GetToken().Value, f: math.NaN()}
	case *ast.BoolNode:
		return &ynode{kind: yBool, pos: pos, str: x.GetToken().Value, b: x.Value}
	case *ast.TagNode:
		v := c.convert(x.Value, depth+1)
		tag := ""
		if x.Start != nil {
			tag = x.Start.Value
		}
		if tag == "!!str" && v.kind != yMap && v.kind != ySeq {
			if v.kind == yNull {
				v.str = ""
			}
			v.kind = yString
		}
		return v
	case *ast.AnchorNode:
		v := c.convert(x.Value, depth+1)
		if x.Name != nil {
			c.anchors[x.Name.GetToken().Value] = v
		}
		return v
	case *ast.AliasNode:
		name := ""
		if x.Value != nil {
			name = x.Value.GetToken().Value
		}
		v, ok := c.anchors[name]
		if !ok {
			c.errorAt(n, "unknown alias *%s", name)
			return &ynode{kind: yNull, pos: pos}
		}
		return c.clone(v, pos)
	case *ast.MappingNode:
		return c.mapping(pos, x.Values, depth)
	case *ast.MappingValueNode:
		return c.mapping(pos, []*ast.MappingValueNode{x}, depth)
	case *ast.SequenceNode:
		y := &ynode{kind: ySeq, pos: pos}
		for _, it := range x.Values {
			y.items = append(y.items, c.convert(it, depth+1))
		}
		return y
	}
	c.errorAt(n, "unsupported YAML construct %s", n.Type())
	return &ynode{kind: yNull, pos: pos}
}

// clone copies an aliased subtree so later merges cannot change the anchor.
// Positions stay those of the anchor, where the content is written.
func (c *yamlConverter) clone(v *ynode, at Pos) *ynode {
	c.nodes++
	if c.nodes > maxYAMLNodes {
		if c.nodes == maxYAMLNodes+1 {
			c.errs = append(c.errs, &Error{Pos: at, Msg: fmt.Sprintf("document too large: aliases expand to more than %d nodes", maxYAMLNodes)})
		}
		return &ynode{kind: yNull, pos: at}
	}
	cp := *v
	cp.keys = slicesClone(v.keys)
	cp.vals = make([]*ynode, len(v.vals))
	for i, e := range v.vals {
		cp.vals[i] = c.clone(e, e.pos)
	}
	cp.items = make([]*ynode, len(v.items))
	for i, e := range v.items {
		cp.items[i] = c.clone(e, e.pos)
	}
	return &cp
}

func slicesClone(s []*ynode) []*ynode { return append([]*ynode(nil), s...) }

func (c *yamlConverter) mapping(pos Pos, values []*ast.MappingValueNode, depth int) *ynode {
	y := &ynode{kind: yMap, pos: pos}
	var merges []*ynode
	for _, mv := range values {
		if mv == nil {
			continue
		}
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			merges = append(merges, c.convert(mv.Value, depth+1))
			continue
		}
		k := c.convert(mv.Key, depth+1)
		if k.kind == yMap || k.kind == ySeq {
			c.errorAt(mv.Key, "a mapping key must be a scalar")
			continue
		}
		if k.kind == yNull && k.str == "" {
			k.str = "null"
		}
		if prev := y.get(k.str); prev != nil {
			c.errs = append(c.errs, &Error{Pos: k.pos, Field: k.str, Msg: fmt.Sprintf("duplicate key (first at line %d)", y.keyPos(k.str).Line)})
			continue
		}
		if len(y.keys) == 0 {
			y.pos = k.pos // a block mapping's position is its first key
		}
		y.keys = append(y.keys, k)
		y.vals = append(y.vals, c.convert(mv.Value, depth+1))
	}
	// "<<: *base" (or a list of them) adds keys the mapping does not set.
	for _, m := range merges {
		srcs := []*ynode{m}
		if m.kind == ySeq {
			srcs = m.items
		}
		for _, s := range srcs {
			if s.kind != yMap {
				c.errs = append(c.errs, &Error{Pos: s.pos, Msg: "merge key `<<` needs a mapping or a list of mappings"})
				continue
			}
			for i, k := range s.keys {
				if y.get(k.str) == nil {
					y.keys = append(y.keys, k)
					y.vals = append(y.vals, s.vals[i])
				}
			}
		}
	}
	return y
}

func (n *ynode) keyPos(key string) Pos {
	for _, k := range n.keys {
		if k.str == key {
			return k.pos
		}
	}
	return n.pos
}

// parseBytes runs the YAML parser, turning a panic inside it (a parser bug
// on hostile input) into an error so that a bad file never crashes wsbench.
func parseBytes(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("YAML parser failed: %v", r)
		}
	}()
	return parser.ParseBytes(data, 0)
}

// flowTooDeep reports the position where flow collections ([ and {)
// nest deeper than maxYAMLDepth, skipping quoted strings and comments. It
// is a cheap guard run before the real parser.
func flowTooDeep(data []byte) (line, col int, deep bool) {
	depth := 0
	line, lineStart := 1, 0
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '\n':
			line, lineStart = line+1, i+1
		case '#':
			if i == 0 || data[i-1] == ' ' || data[i-1] == '\t' || data[i-1] == '\n' {
				for i+1 < len(data) && data[i+1] != '\n' {
					i++
				}
			}
		case '"', '\'':
			for i++; i < len(data) && data[i] != c; i++ {
				if c == '"' && data[i] == '\\' {
					i++
				} else if data[i] == '\n' {
					line, lineStart = line+1, i+1
				}
			}
		case '[', '{':
			depth++
			if depth > maxYAMLDepth {
				return line, i - lineStart + 1, true
			}
		case ']', '}':
			depth = max(0, depth-1)
		}
	}
	return 0, 0, false
}
