package ssmlab

import (
	"encoding/json"
	"strings"

	"github.com/ottr-go/ottr/internal/driver/linux/linuxlab/shellscript"
)

// Calls returns the requests received so far (Config.RecordRequests) as
// the linux-ssm driver's request table names them:
//
//	"ssm:SendCommand", "ec2:DescribeInstances"   an API call, as IAM names its action
//	"AWS-RunShellScript: openssl req"            a program a sent script starts
//	"AWS-RunShellScript: reload_command"         the instances' reload command
//
// Programs are those shellscript.Programs finds in the commands parameter
// of each SendCommand, every branch counted.
func (s *Service) Calls() []string {
	reloads := map[string]bool{}
	for _, inst := range s.Instances() {
		reloads[strings.Fields(inst.cfg.ReloadCommand)[0]] = true
	}
	var calls []string
	for _, r := range s.Requests() {
		service := "ec2:"
		if r.Header.Get("X-Amz-Target") != "" {
			service = "ssm:"
		}
		calls = append(calls, service+r.Operation)
		if service+r.Operation != "ssm:SendCommand" {
			continue
		}
		var in sendCommandInput
		if err := json.Unmarshal(r.Body, &in); err != nil {
			continue
		}
		document := in.DocumentName + ": "
		programs, err := shellscript.Programs(strings.Join(in.Parameters["commands"], "\n"))
		if err != nil {
			calls = append(calls, document+"(a script that does not parse)")
			continue
		}
		for _, p := range programs {
			if reloads[p] {
				p = "reload_command"
			}
			calls = append(calls, document+p)
		}
	}
	return calls
}
