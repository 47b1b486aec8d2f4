package sim

import (
	"bytes"
	"net/http"
	"reflect"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

// vcsim sends many SOAP faults with an empty faultstring: every fault a
// Registry.Handler (dispatch) returns, and most of its own. Clients print
// the faultstring ("ServerFaultCode: ..."), and with none they print the
// fault's type name where vCenter's clients print vCenter's message
// ("ServerFaultCode: Permission to perform this operation was denied.").
// faultStrings fills an empty faultstring with vCenter's message for the
// fault (faultMessage); other responses pass through unbuffered. It wraps
// vcsim's SOAP handler through the
// Service's ServeMux: a "POST /sdk" pattern is more specific than the
// "/sdk" vcsim registers, so it gets every SOAP call.

// fillFaultStrings routes the simulator's SOAP calls through faultStrings.
// It runs before the server is made (Service.NewServer).
func fillFaultStrings(svc *simulator.Service) {
	if svc.ServeMux == nil {
		svc.ServeMux = http.NewServeMux()
	}
	sdk := svc.Context.Map.Path
	for _, p := range []string{sdk, sdk + "/vimService"} {
		svc.ServeMux.Handle("POST "+p, faultStrings{next: svc.ServeSDK})
	}
}

type faultStrings struct {
	next http.HandlerFunc
}

// ServeHTTP implements http.Handler.
func (h faultStrings) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{w: w}
	h.next(rec, r)
	if rec.fault {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write(fillFaultString(rec.body.Bytes()))
	}
}

// recorder passes a response through, but for a fault (status 500), which
// it buffers for ServeHTTP to fill in.
type recorder struct {
	w     http.ResponseWriter
	code  int
	fault bool
	body  bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.w.Header() }

func (r *recorder) WriteHeader(code int) {
	if r.code != 0 {
		return
	}
	r.code = code
	if r.fault = code == http.StatusInternalServerError; !r.fault {
		r.w.WriteHeader(code)
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if r.fault {
		return r.body.Write(b)
	}
	return r.w.Write(b)
}

var emptyFaultString = []byte("<faultstring></faultstring>")

// fillFaultString puts vCenter's message for the fault of a SOAP fault
// response into its faultstring, if that is empty.
func fillFaultString(body []byte) []byte {
	i := bytes.Index(body, emptyFaultString)
	if i < 0 {
		return body
	}
	var env struct {
		Body struct {
			Fault *soap.Fault `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault"`
		} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.TypeFunc = types.TypeFunc()
	if err := dec.Decode(&env); err != nil || env.Body.Fault == nil {
		return body
	}
	// The decoder gives the fault as a value; its methods are the pointer's.
	v := reflect.ValueOf(env.Body.Fault.Detail.Fault)
	if !v.IsValid() {
		return body
	}
	if v.Kind() != reflect.Pointer {
		p := reflect.New(v.Type())
		p.Elem().Set(v)
		v = p
	}
	f, ok := v.Interface().(types.BaseMethodFault)
	if !ok {
		return body
	}
	var msg bytes.Buffer
	msg.WriteString("<faultstring>")
	_ = xml.EscapeText(&msg, []byte(faultMessage(f)))
	msg.WriteString("</faultstring>")
	out := make([]byte, 0, len(body)+msg.Len())
	out = append(out, body[:i]...)
	out = append(out, msg.Bytes()...)
	return append(out, body[i+len(emptyFaultString):]...)
}
