package ssmlab

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ottr-go/ottr/internal/awslab"
)

// The EC2 side: DescribeInstances over the EC2 Query protocol (a
// form-encoded POST with Action and Version, answered in XML), with the
// filters the EC2 API reference documents for finding instances by tag and
// state.

const ec2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// parseQueryRequest reads a Query protocol body and returns its parameters
// and Action.
func parseQueryRequest(body []byte) (url.Values, string) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return url.Values{}, ""
	}
	return form, form.Get("Action")
}

func (s *Service) serveEC2(w http.ResponseWriter, action string, form url.Values) {
	if action != "DescribeInstances" {
		writeQueryError(w, http.StatusBadRequest, "InvalidAction",
			fmt.Sprintf("The action %s is not valid for this web service.", action))
		return
	}
	if form.Get("DryRun") == "true" {
		writeQueryError(w, http.StatusPreconditionFailed, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
		return
	}
	filters, msg := parseFilters(form)
	if msg != "" {
		writeQueryError(w, http.StatusBadRequest, "InvalidParameterValue", msg)
		return
	}
	ids := indexedValues(form, "InstanceId.")
	maxResults, start := 0, 0
	if v := form.Get("MaxResults"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case len(ids) > 0:
			writeQueryError(w, http.StatusBadRequest, "InvalidParameterCombination",
				"The parameter instancesSet cannot be used with the parameter maxResults")
			return
		case err != nil || n < 5 || n > 1000:
			writeQueryError(w, http.StatusBadRequest, "InvalidParameterValue",
				fmt.Sprintf("Value ( %s ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", v))
			return
		}
		maxResults = n
	}
	if tok := form.Get("NextToken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 {
			writeQueryError(w, http.StatusBadRequest, "InvalidParameterValue", "The specified token is invalid.")
			return
		}
		start = n
	}

	instances := s.Instances()
	for _, id := range ids {
		if !slices.ContainsFunc(instances, func(inst *Instance) bool { return inst.ID() == id }) {
			writeQueryError(w, http.StatusBadRequest, "InvalidInstanceID.NotFound",
				fmt.Sprintf("The instance ID '%s' does not exist", id))
			return
		}
	}
	var matched []*Instance
	for _, inst := range instances {
		if (len(ids) == 0 || slices.Contains(ids, inst.ID())) && filters.match(inst) {
			matched = append(matched, inst)
		}
	}
	answer := describeInstancesResponse{Xmlns: ec2Namespace, RequestID: awslab.RequestID()}
	end := len(matched)
	if maxResults > 0 && start+maxResults < end {
		end = start + maxResults
		answer.NextToken = strconv.Itoa(end)
	}
	for i := min(start, len(matched)); i < end; i++ {
		answer.Reservations = append(answer.Reservations, matched[i].reservation(s.cfg.AccountID))
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	_, _ = w.Write([]byte(xml.Header))
	_ = xml.NewEncoder(w).Encode(answer)
}

// filter is one Filter.N of a request.
type filter struct {
	name   string
	values []string
}

type filters []filter

// parseFilters reads Filter.N.Name and Filter.N.Value.M.
func parseFilters(form url.Values) (filters, string) {
	var out filters
	for n := 1; ; n++ {
		prefix := "Filter." + strconv.Itoa(n) + "."
		name := form.Get(prefix + "Name")
		if name == "" {
			return out, ""
		}
		switch {
		case name == "instance-state-name", name == "instance-id", name == "tag-key",
			strings.HasPrefix(name, "tag:") && len(name) > len("tag:"):
		default:
			return nil, fmt.Sprintf("The filter '%s' is invalid", name)
		}
		out = append(out, filter{name: name, values: indexedValues(form, prefix+"Value.")})
	}
}

// indexedValues returns form[prefix+"1"], form[prefix+"2"], … up to the
// first gap.
func indexedValues(form url.Values, prefix string) []string {
	var values []string
	for m := 1; ; m++ {
		v, ok := form[prefix+strconv.Itoa(m)]
		if !ok || len(v) == 0 {
			return values
		}
		values = append(values, v[0])
	}
}

// match reports whether inst passes every filter; within one filter, any
// value may match.
func (fs filters) match(inst *Instance) bool {
	for _, f := range fs {
		var candidates []string
		switch {
		case f.name == "instance-state-name":
			candidates = []string{inst.State()}
		case f.name == "instance-id":
			candidates = []string{inst.ID()}
		case f.name == "tag-key":
			for k := range inst.tags() {
				candidates = append(candidates, k)
			}
		default:
			if v, ok := inst.tags()[strings.TrimPrefix(f.name, "tag:")]; ok {
				candidates = []string{v}
			}
		}
		if !anyMatches(f.values, candidates) {
			return false
		}
	}
	return true
}

func anyMatches(patterns, candidates []string) bool {
	for _, p := range patterns {
		for _, c := range candidates {
			if wildcardMatch(p, c) {
				return true
			}
		}
	}
	return false
}

// wildcardMatch matches s against an EC2 filter value: "*" is any run of
// characters, "?" any one, and a backslash makes the next character
// literal.
func wildcardMatch(pattern, s string) bool {
	p, str := []rune(pattern), []rune(s)
	var match func(i, j int) bool
	match = func(i, j int) bool {
		for i < len(p) {
			switch p[i] {
			case '*':
				for k := j; k <= len(str); k++ {
					if match(i+1, k) {
						return true
					}
				}
				return false
			case '?':
				if j >= len(str) {
					return false
				}
			case '\\':
				if i+1 < len(p) {
					i++
				}
				fallthrough
			default:
				if j >= len(str) || str[j] != p[i] {
					return false
				}
			}
			i++
			j++
		}
		return j == len(str)
	}
	return match(0, 0)
}

type describeInstancesResponse struct {
	XMLName      xml.Name          `xml:"DescribeInstancesResponse"`
	Xmlns        string            `xml:"xmlns,attr"`
	RequestID    string            `xml:"requestId"`
	Reservations []reservationItem `xml:"reservationSet>item"`
	NextToken    string            `xml:"nextToken,omitempty"`
}

type reservationItem struct {
	ReservationID string         `xml:"reservationId"`
	OwnerID       string         `xml:"ownerId"`
	Instances     []instanceItem `xml:"instancesSet>item"`
}

type instanceItem struct {
	InstanceID       string        `xml:"instanceId"`
	ImageID          string        `xml:"imageId"`
	State            instanceState `xml:"instanceState"`
	PrivateDNSName   string        `xml:"privateDnsName"`
	InstanceType     string        `xml:"instanceType"`
	PrivateIPAddress string        `xml:"privateIpAddress"`
	Platform         string        `xml:"platformDetails"`
	Tags             []tagItem     `xml:"tagSet>item"`
}

type instanceState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type tagItem struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

// stateCodes are EC2's instance state codes.
var stateCodes = map[string]int{
	StatePending: 0, StateRunning: 16, "shutting-down": 32, stateTerminated: 48, "stopping": 64, StateStopped: 80,
}

func (inst *Instance) reservation(owner string) reservationItem {
	tags := inst.tags()
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	item := instanceItem{
		InstanceID:       inst.ID(),
		ImageID:          "ami-0ottr0lab0000000",
		State:            instanceState{Code: stateCodes[inst.State()], Name: inst.State()},
		PrivateDNSName:   "ip-" + strings.ReplaceAll(inst.privateIP, ".", "-") + ".ec2.internal",
		InstanceType:     "t3.micro",
		PrivateIPAddress: inst.privateIP,
		Platform:         "Linux/UNIX",
	}
	for _, k := range keys {
		item.Tags = append(item.Tags, tagItem{Key: k, Value: tags[k]})
	}
	return reservationItem{
		ReservationID: "r-" + strings.TrimPrefix(inst.ID(), "i-"),
		OwnerID:       owner,
		Instances:     []instanceItem{item},
	}
}

type queryErrorResponse struct {
	XMLName   xml.Name     `xml:"Response"`
	Errors    []queryError `xml:"Errors>Error"`
	RequestID string       `xml:"RequestID"`
}

type queryError struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// writeQueryError answers in EC2's error shape:
// <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>.
func writeQueryError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_ = xml.NewEncoder(w).Encode(queryErrorResponse{
		Errors:    []queryError{{Code: code, Message: message}},
		RequestID: awslab.RequestID(),
	})
}
