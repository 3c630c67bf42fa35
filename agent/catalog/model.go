package catalog

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fxamacker/cbor/v2"

	"github.com/edgeplane/edgeplane/agent/command"
	"github.com/edgeplane/edgeplane/store"
)

// Table is the replicated table of service instances and their checks.
// Its records are owned by the node that registered them:
//
//	svc/<node>/<serviceID>  an Instance
//	chk/<node>/<checkID>    a Check
var Table = store.DeclareTable("catalog")

// Key prefixes of Table.
const (
	servicePrefix = "svc/"
	checkPrefix   = "chk/"
)

// ServiceKey returns the key of a node's service instance in Table.
func ServiceKey(node, serviceID string) string { return servicePrefix + node + "/" + serviceID }

// CheckKey returns the key of a node's check in Table.
func CheckKey(node, checkID string) string { return checkPrefix + node + "/" + checkID }

// Check statuses, as Consul names them.
const (
	StatusPassing  = "passing"
	StatusWarning  = "warning"
	StatusCritical = "critical"
)

// CheckTypeTTL is the type of a check whose status the application
// reports itself (PUT /v1/agent/check/pass|warn|fail|update).
const CheckTypeTTL = "ttl"

// MaxOutput is the most bytes of a check's output kept: longer output is
// cut, at a UTF-8 boundary, as Consul's check_output_max_size does.
const MaxOutput = command.MaxOutput

// Address is a tagged address of an instance (Consul's ServiceAddress).
type Address struct {
	Address string `cbor:"1,keyasint,omitempty" json:"Address"`
	Port    int    `cbor:"2,keyasint,omitempty" json:"Port"`
}

// Weights are an instance's weights in DNS SRV answers and load balancing,
// by the state of its checks.
type Weights struct {
	Passing int `cbor:"1,keyasint,omitempty"`
	Warning int `cbor:"2,keyasint,omitempty"`
}

// DefaultWeights are Consul's: {Passing: 1, Warning: 1}.
var DefaultWeights = Weights{Passing: 1, Warning: 1}

// Instance is a service instance as Table holds it: what discovery needs
// and nothing else (no definition of its checks, no timestamps).
type Instance struct {
	ID                string             `cbor:"1,keyasint"`
	Name              string             `cbor:"2,keyasint"`
	Tags              []string           `cbor:"3,keyasint,omitempty"`
	Address           string             `cbor:"4,keyasint,omitempty"`
	Port              int                `cbor:"5,keyasint,omitempty"`
	TaggedAddresses   map[string]Address `cbor:"6,keyasint,omitempty"`
	Meta              map[string]string  `cbor:"7,keyasint,omitempty"`
	Weights           Weights            `cbor:"8,keyasint"`
	EnableTagOverride bool               `cbor:"9,keyasint,omitempty"`
}

// Check is a check as Table holds it: its latest status and output, no
// time of its runs, so that a check whose status stays the same costs no
// write.
type Check struct {
	ID        string `cbor:"1,keyasint"`
	Name      string `cbor:"2,keyasint"`
	ServiceID string `cbor:"3,keyasint"`
	Type      string `cbor:"4,keyasint"`
	Status    string `cbor:"5,keyasint"`
	Notes     string `cbor:"6,keyasint,omitempty"`
	Output    string `cbor:"7,keyasint,omitempty"`
}

// ErrBadRecord reports a record of Table that does not decode, or breaks
// the rules a registration obeys.
var ErrBadRecord = errors.New("catalog: bad record")

// recordEnc encodes records canonically: one content, one encoding, so an
// unchanged record is recognised by its bytes.
var recordEnc = func() cbor.EncMode {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

// recordDec decodes records of Table, which may come from any member of
// the fleet, within limits no valid record reaches. Fields it does not
// know, which a newer version may add, are skipped.
var recordDec = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  4,
		MaxArrayElements: maxTags,
		MaxMapPairs:      maxMeta,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// EncodeInstance returns the value of an instance's record.
func EncodeInstance(in *Instance) ([]byte, error) { return recordEnc.Marshal(in) }

// EncodeCheck returns the value of a check's record.
func EncodeCheck(c *Check) ([]byte, error) { return recordEnc.Marshal(c) }

// DecodeInstance decodes and checks the value of an instance's record.
func DecodeInstance(b []byte) (Instance, error) {
	var in Instance
	if err := recordDec.Unmarshal(b, &in); err != nil {
		return Instance{}, fmt.Errorf("%w: instance: %v", ErrBadRecord, err)
	}
	if err := in.validate(); err != nil {
		return Instance{}, fmt.Errorf("%w: instance: %v", ErrBadRecord, err)
	}
	return in, nil
}

// DecodeCheck decodes and checks the value of a check's record.
func DecodeCheck(b []byte) (Check, error) {
	var c Check
	if err := recordDec.Unmarshal(b, &c); err != nil {
		return Check{}, fmt.Errorf("%w: check: %v", ErrBadRecord, err)
	}
	if err := c.validate(); err != nil {
		return Check{}, fmt.Errorf("%w: check: %v", ErrBadRecord, err)
	}
	return c, nil
}

// ParseKey splits a key of Table into its kind ("svc" or "chk"), node
// and id.
func ParseKey(key string) (kind, node, id string, ok bool) {
	kind, rest, ok := strings.Cut(key, "/")
	if !ok || kind+"/" != servicePrefix && kind+"/" != checkPrefix {
		return "", "", "", false
	}
	node, id, ok = strings.Cut(rest, "/")
	if !ok || node == "" || checkID(id) != nil {
		return "", "", "", false
	}
	return kind, node, id, true
}
