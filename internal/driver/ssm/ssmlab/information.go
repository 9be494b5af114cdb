package ssmlab

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// DescribeInstanceInformation, as the SSM API reference documents it: the
// managed nodes the Filters (Key InstanceIds or PingStatus) or the legacy
// InstanceInformationFilterList select, MaxResults (5 to 50, default 10)
// at a time. An instance ID the fleet does not have is an error; a node
// that is not running is left out, as AWS leaves out stopped and
// terminated nodes. Every running instance's agent is online.

// Agent and platform every instance reports.
const (
	agentVersion    = "3.3.1957.0"
	platformName    = "Ubuntu"
	platformVersion = "22.04"
)

type informationFilter struct {
	Key    string   `json:"Key"`
	Values []string `json:"Values"`
}

type legacyInformationFilter struct {
	Key      string   `json:"key"`
	ValueSet []string `json:"valueSet"`
}

type describeInformationInput struct {
	Filters                       []informationFilter       `json:"Filters"`
	InstanceInformationFilterList []legacyInformationFilter `json:"InstanceInformationFilterList"`
	MaxResults                    *int                      `json:"MaxResults"`
	NextToken                     string                    `json:"NextToken"`
}

func (s *Service) describeInstanceInformation(w http.ResponseWriter, body []byte) {
	var in describeInformationInput
	if err := json.Unmarshal(body, &in); err != nil {
		writeJSONError(w, http.StatusBadRequest, "SerializationException", "Start of structure or map found where not expected.")
		return
	}
	if len(in.Filters) > 0 && len(in.InstanceInformationFilterList) > 0 {
		writeJSONError(w, http.StatusBadRequest, "InvalidFilter", "Filters and InstanceInformationFilterList cannot be used together.")
		return
	}
	filters := in.Filters
	for _, f := range in.InstanceInformationFilterList {
		filters = append(filters, informationFilter{Key: f.Key, Values: f.ValueSet})
	}
	maxResults := 10
	if in.MaxResults != nil {
		if *in.MaxResults < 5 || *in.MaxResults > 50 {
			writeJSONError(w, http.StatusBadRequest, "ValidationException", fmt.Sprintf(
				"1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 5 and 50", *in.MaxResults))
			return
		}
		maxResults = *in.MaxResults
	}
	start := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(in.NextToken)
		if err != nil || n < 0 {
			writeJSONError(w, http.StatusBadRequest, "InvalidNextToken", "The specified token is not valid.")
			return
		}
		start = n
	}

	instances := s.Instances()
	var ids, pings []string
	for _, f := range filters {
		switch f.Key {
		case "InstanceIds":
			ids = append(ids, f.Values...)
		case "PingStatus":
			pings = append(pings, f.Values...)
		default:
			writeJSONError(w, http.StatusBadRequest, "InvalidFilterKey", fmt.Sprintf("The filter key %s is not supported by this emulator (InstanceIds, PingStatus).", f.Key))
			return
		}
	}
	var unknown []string
	for _, id := range ids {
		if !slices.ContainsFunc(instances, func(inst *Instance) bool { return inst.ID() == id }) {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		writeJSONError(w, http.StatusBadRequest, "InvalidInstanceId",
			fmt.Sprintf("Instances [[%s]] not in a valid state for account %s", strings.Join(unknown, ", "), s.cfg.AccountID))
		return
	}
	var list []map[string]any
	for _, inst := range instances {
		if inst.State() != StateRunning || len(ids) > 0 && !slices.Contains(ids, inst.ID()) ||
			len(pings) > 0 && !slices.Contains(pings, "Online") {
			continue
		}
		list = append(list, inst.information(s))
	}
	answer := map[string]any{}
	end := min(start+maxResults, len(list))
	if start < end {
		answer["InstanceInformationList"] = list[start:end]
	} else {
		answer["InstanceInformationList"] = []any{}
	}
	if end < len(list) {
		answer["NextToken"] = strconv.Itoa(end)
	}
	writeJSON(w, answer)
}

// information is the InstanceInformation of a running instance.
func (inst *Instance) information(s *Service) map[string]any {
	domain := s.cfg.Region + ".compute.internal"
	if s.cfg.Region == "us-east-1" {
		domain = "ec2.internal"
	}
	return map[string]any{
		"InstanceId":       inst.ID(),
		"PingStatus":       "Online",
		"LastPingDateTime": epochSeconds(s.cfg.Now()),
		"AgentVersion":     agentVersion,
		"IsLatestVersion":  false,
		"PlatformType":     "Linux",
		"PlatformName":     platformName,
		"PlatformVersion":  platformVersion,
		"ResourceType":     "EC2Instance",
		"IPAddress":        inst.privateIP,
		"ComputerName":     "ip-" + strings.ReplaceAll(inst.privateIP, ".", "-") + "." + domain,
	}
}
